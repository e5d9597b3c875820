"""Pure control-plane logic: names, ids, paging, masks, key text, validation, errors.

Nothing here does I/O; randomness and time are passed in.
"""
