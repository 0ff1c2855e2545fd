"""A pure-Python model of the market's payout rules (docs/economics.md): one function per
outcome (`rules`), one job's money call by call (`ledger`), strategic agents (`agents`), a Monte
Carlo over many jobs (`simulate`) and the attacks of issue 11 priced under v1 and v2
(`attacks`). Amounts are wei; gas figures are the measured ones of docs/benchmarks.md."""
