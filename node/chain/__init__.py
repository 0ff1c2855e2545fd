"""chain layer of the poc node."""
