"""The front door: the `engage` command line and the use cases it calls."""
