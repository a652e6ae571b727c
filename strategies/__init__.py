"""Pure trading strategies for otcmm bots: decision code only, no I/O."""
