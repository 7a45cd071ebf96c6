def error_line(err: str) -> str:
    """The CLI's single `error:` line, asserting there is exactly one and no traceback."""
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]
