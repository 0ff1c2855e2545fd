"""game layer of the poc node."""
