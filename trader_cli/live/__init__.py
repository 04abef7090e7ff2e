"""Live sessions on Alpaca (issue 14): history downloads (``fetch``) and the loopback server
that speaks Alpaca's protocol for the tests and the demo (``loopback``). ``alpaca-py`` is
imported only inside the functions that talk to Alpaca: start-up stays as fast."""
