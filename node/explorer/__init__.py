"""`poc explorer`: a local, read-only web page over the protocol on the configured chain and the
node's own state folders.

Modules: `index` (every protocol event since the deployment's start block, scanned once and
then incrementally, kept in memory by job, claim, game and transaction); `timeline` (a game's
moves rebuilt from its events, their receipts and the game's position read before and after
each move); `node_state` (the provider's, watchtower's and poster's SQLite state, opened
read-only); `views` (typed page models built from the bindings in node.chain.contracts, the
index and the node state; `to_json` for the API); `render` (plain HTML and CSS, nothing
fetched from elsewhere); `server` (http.server in a thread; GET only); `command` (the click
command). Nothing here sends a transaction or writes a file."""
