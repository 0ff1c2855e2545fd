"""The lab: what stages the protocol rather than runs it. The demo, the benchmarks and the
adversaries they need (lying providers, false challengers) live here, outside `node`, so that no
production module, CLI flag or setting knows how to cheat. Production code never imports this
package; tests, `make demo` and `make bench` do."""
