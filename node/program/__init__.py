"""program layer of the poc node."""
