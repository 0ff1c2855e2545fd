"""The dispute game as the node plays it: `rules` (the phase table and how each move changes a
position, as GamePosition.sol has them), `view` (what a game looks like, from chain reads),
`actions` (the moves), `solver` (pure: view + own trace -> honest moves), `responder` (sends
what the solver decided). A simulation that needs a misbehaving player builds one from the
seams (a trace, the pick hook) outside this package."""
