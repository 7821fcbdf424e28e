"""The copier template's own step: clean-start removes the demo from a new project."""
