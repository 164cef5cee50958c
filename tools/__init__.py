"""Developer tools: demos, the screenshot and browser drivers, the local stubs of Alpaca and Slack
that the tests and `make aws-local` run. Nothing in the product imports them."""
