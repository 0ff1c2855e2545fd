"""roles layer of the poc node."""
