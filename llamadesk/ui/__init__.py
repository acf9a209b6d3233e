"""Qt widgets that call `llamadesk.core`. Model work never runs on the GUI thread."""
