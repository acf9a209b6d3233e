"""Everything LlamaDesk does, without Qt: importable headless by the CLI, the GUI and the tests."""
