"""Pure cryptographic primitives for Sunlit: bytes and keys in, bytes out.

No files, no clock, no logging of secrets. Every other package builds on these.
"""
