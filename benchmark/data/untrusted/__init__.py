"""Readers of files the suite did not write: archives unpacked without trusting a member, and the
restricted unpickler. Every input ends in a value or a `DataError` naming the file."""
