"""One account talking to one node: the bottom layer of otcmm.

Owns JSON-RPC with checked answers and retries (`rpc`, `rpcanswer`), signing and sending with
a local nonce, fees and stuck-tx replacement (`transactor`, `fees`, `txpool`), readable revert
reasons (`revert`), the journal of signed transactions (`journal`), keystores (`keystore`, with
mnemonics and derivation paths in `hdwallet`) and URL redaction (`redact`).
Must not import any other otcmm package: everything else is built on it.
"""
