"""End-to-end tests of the interactive shell through a real pty."""
