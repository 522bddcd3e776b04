"""Example skills for the demo."""
