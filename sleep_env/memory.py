r"""The short-term memory: a FIFO of text items with a capacity in characters (pure functions).

The memory is a tuple of items, oldest first; the context an agent sees is the items joined by
``"\n"``. Its size is the joined length in characters (newlines included).
"""

from __future__ import annotations

__all__ = ["joined_chars", "admit"]


def joined_chars(memory: tuple[str, ...]) -> int:
    r"""Return the length in characters of ``"\n".join(memory)``.

    Example:
        >>> joined_chars(("ab", "cde"))
        6
    """
    return sum(map(len, memory)) + max(len(memory) - 1, 0)


def admit(memory: tuple[str, ...], entry: str, capacity: int) -> tuple[tuple[str, ...], int]:
    """Append ``entry`` and evict the oldest whole items until the memory fits ``capacity``.

    An entry longer than ``capacity`` on its own is cut to its last ``capacity`` characters (and
    every older item is evicted).

    Args:
        memory: Current items, oldest first.
        entry: The new item (characters).
        capacity: Capacity in characters (>= 1).

    Returns:
        ``(memory, evicted)``: the new items and how many old items were evicted.

    Example:
        >>> admit(("aaaa", "bb"), "cc", capacity=6)
        (('bb', 'cc'), 1)
        >>> admit(("aa",), "xyz", capacity=2)
        (('yz',), 1)
    """
    if len(entry) > capacity:
        entry = entry[len(entry) - capacity :]
    items = memory + (entry,)
    start = 0
    size = joined_chars(items)
    while size > capacity:  # drop the oldest item and its newline
        size -= len(items[start]) + 1
        start += 1
    return items[start:], start
