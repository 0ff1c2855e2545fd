def test_probe(accounts, chain):
    import time

    from eth_account import Account

    from node.chain.sender import TxRequest, TxSender
    w3 = chain.provider.web3
    a = accounts[1]
    print(type(a), hasattr(a, "private_key"))
    acct = Account.from_key(a.private_key)
    s = TxSender(w3, acct)
    t=time.time()
    r = s.send(TxRequest(to=accounts[2].address, data=b"", value=5))
    print("ok", r["status"], time.time()-t)
    print(chain.pending_timestamp, w3.eth.get_block("latest")["timestamp"])
    chain.pending_timestamp += 1000
    chain.mine()
    print(chain.pending_timestamp, w3.eth.get_block("latest")["timestamp"])
