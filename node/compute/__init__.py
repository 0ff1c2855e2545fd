"""compute layer of the poc node."""
