"""storage layer of the poc node."""
