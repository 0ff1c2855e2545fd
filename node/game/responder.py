"""Reserved: the responder of the dispute game, being written by the roles engineer (helper-4)."""
