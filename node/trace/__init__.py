"""trace layer of the poc node."""
