"""Local rules: conditions over readings, time semantics and the alert lifecycle."""
