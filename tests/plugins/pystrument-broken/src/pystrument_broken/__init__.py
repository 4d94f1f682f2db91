raise RuntimeError("pystrument-broken is broken on purpose")
