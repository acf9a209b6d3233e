"""A second launch on the same data folder brings the first window forward instead of opening one."""

import pytest

from llamadesk.ui.single_instance import SingleInstance, notify_running, server_name


@pytest.fixture
def name(home) -> str:
    return server_name()


def test_the_name_is_per_data_folder(home, monkeypatch, tmp_path):
    first = server_name()
    assert server_name() == first
    monkeypatch.setenv("LLAMADESK_HOME", str(tmp_path / "other"))
    assert server_name() != first


def test_nobody_answers_when_no_instance_runs(qapp, name):
    assert notify_running(name) is False


def test_a_second_launch_activates_the_first(qtbot, name):
    first = SingleInstance(name)
    assert first.listen()
    try:
        with qtbot.waitSignal(first.activation_requested, timeout=3000):
            assert notify_running(name) is True
    finally:
        first.close()
    assert notify_running(name) is False  # closed: the next launch becomes the first


def test_a_socket_left_by_a_crashed_instance_is_taken_over(qtbot, name):
    crashed = SingleInstance(name)
    assert crashed.listen()
    survivor = SingleInstance(name)
    # The name is taken while the first listens; the new instance removes it and listens itself.
    assert survivor.listen()
    try:
        with qtbot.waitSignal(survivor.activation_requested, timeout=3000):
            assert notify_running(name) is True
    finally:
        survivor.close()
        crashed.close()
