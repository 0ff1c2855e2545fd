"""click commands only; no business logic lives here."""
