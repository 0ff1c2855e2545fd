import numpy as np
from conftest import ARITY, claimed_submitted, open_game
from contracts_trace import CHALLENGER_WON, PROVIDER_WON, Challenger, Provider, Trace, play, sample_program


def test_liar_loses_and_honest_wins(system, poster, provider, challenger, anyone, chain, honest_trace):
    prog, vals = sample_program(np.random.default_rng(1))
    liar = Trace(prog, vals, corrupt=(0, 5, 3))
    job = claimed_submitted(system, poster, provider, liar, chain)
    gid = open_game(system, job, challenger)
    r = play(system.game, gid, Provider(liar, ARITY), Challenger(honest_trace, ARITY), (provider, challenger, anyone), chain)
    print(r)
    assert r.status == CHALLENGER_WON
