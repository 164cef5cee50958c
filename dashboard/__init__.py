"""The live dashboard: a websocket server over the pipeline's topics and the page it serves."""
