"""The dispute game as the node plays it: `view` (what a game looks like, from chain reads),
`actions` (the moves), `solver` (pure: view + own trace -> moves), `responder` (the only code
that sends game transactions), `adversary` (test-only cheaters, gated)."""
