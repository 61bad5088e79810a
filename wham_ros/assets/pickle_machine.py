"""A pickle interpreter that builds plain data and nothing else.

It reads every opcode of pickle protocols 0-5 itself (Python's ``pickle.Unpickler`` would
call a class's ``__setstate__``, ``extend`` or ``__setitem__``, and recurse on free):

* GLOBAL/STACK_GLOBAL push the value of an allowlisted :class:`~wham_ros.assets.allowlist.Global`;
  REDUCE/NEWOBJ/INST/OBJ call that entry's own handler, never the named object.
* BUILD only reaches objects this reader created (placeholders, namespaces, ordered
  dicts, pending numpy dtypes/arrays); APPEND only lists, SETITEM only dicts, ADDITEMS only
  sets, all made here.
* Limits are checked before anything is allocated: every length against the bytes left,
  ints of at most :attr:`Limits.max_int_bytes`, at most :attr:`Limits.max_values` values,
  nesting at most :attr:`Limits.max_depth` deep (tracked while building, so nothing that
  later walks or frees the result can recurse deeply).

Errors are :class:`~wham_ros.assets.file_errors.Malformed` (the file breaks a rule) or
:class:`~wham_ros.assets.file_errors.Refused` (it asks for something outside the allowlist).
"""
import codecs
import collections
import mmap
import os
import struct
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

from wham_ros.assets.allowlist import (PENDING_TYPES, PY2_MODULES, ArrayPending, ArrayState,
                                       ForeignClasses, Global, Inert, RawString, check_keys,
                                       check_state_keys, is_foreign, plain_global)
from wham_ros.assets.file_errors import Malformed, Refused

_DICT_TYPES = (dict, collections.OrderedDict, collections.defaultdict, collections.Counter)
_HIGHEST_PROTOCOL = 5
_LAZY_BYTES = 1 << 16       # strings this long stay raw until used (array data is never decoded)


@dataclass(frozen=True)
class Limits:
    """Bounds on what one pickle may build.

    Attributes:
        max_depth: nesting of containers and placeholders.
        max_values: values pushed plus references stored, a container or object made
            counting :data:`CONTAINER_WEIGHT` (each costs memory whatever the file size: a
            2-byte opcode can add an 80-byte dict); about 32 bytes of memory per value at
            worst, so the limit keeps a file's Python objects near 128 MB.
        max_int_bytes: bytes of one integer (``LONG``, ``LONG4``).
        extra_bytes: bytes that arrays and byte strings built by copying may take beyond
            twice the pickle's own size (each copy of file data counts: a Python-3
            protocol-2 array is copied twice, by ``_codecs.encode`` and into the array; a
            file may not copy one string a thousand times).
    """

    max_depth: int = 100
    max_values: int = 4_000_000
    max_int_bytes: int = 1024
    extra_bytes: int = 16 << 20


LIMITS = Limits()
CONTAINER_WEIGHT = 8
"""Values counted for each container or object made (its size in 8-byte words, roughly)."""


def map_file(path: str) -> mmap.mmap:
    """A file's bytes for the machine: a read-only memory map, so nothing is copied until a
    value is built (array data goes once from the page cache into its array).

    Raises:
        Malformed: the file is empty.
    """
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            raise Malformed("empty file")
        return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)


class PickleMachine:
    """Reads one pickle from ``data[start:end]``.

    Args:
        data: the bytes (``bytes``, ``bytearray`` or ``mmap``).
        extra_globals: ``module.name`` -> :class:`Global` beyond the plain ones (torch's).
        persistent_load: ``pid -> object`` for persistent ids, or None (refused).
        limits: the bounds.

    The placeholder classes of foreign objects (:class:`ForeignClasses`) are shared by every
    pickle one machine loads (the pickles of one file).
    """

    def __init__(self, data, extra_globals: Optional[Dict[str, Global]] = None,
                 persistent_load: Optional[Callable[[Any], Any]] = None,
                 limits: Limits = LIMITS):
        self.data, self.limits = data, limits
        self._view = memoryview(data)
        self._extra = extra_globals or {}
        self._persistent_load = persistent_load
        self._foreign = ForeignClasses()
        self._by_id: Dict[int, Global] = {}
        self._depth: Dict[int, int] = {}
        self._buildable = set()
        self._inserted = set()     # ids of containers placed inside another object
        self._deepened_inserted = False
        self._made = []            # keeps every registered object alive (ids stay unique)
        self._values = 0
        self._bytes_left = 2 * len(data) + limits.extra_bytes
        self.pos = self.end = 0
        self._dispatch = {op[0]: getattr(self, name) for op, name in _OPCODES.items()}

    # ------------------------------------------------------------ used by the handlers

    def made(self, obj, buildable: bool = False):
        """Register an object the reader created; ``buildable``: it may take BUILD state."""
        self._made.append(obj)
        self._depth.setdefault(id(obj), 1)
        if buildable:
            self._buildable.add(id(obj))
        self._count(CONTAINER_WEIGHT)
        return obj

    def count(self, n: int) -> None:
        """Count ``n`` more values (items copied by a constructor)."""
        self._count(n)

    def spend(self, nbytes: int) -> None:
        """Count ``nbytes`` of data copied into a new array or byte string."""
        self._bytes_left -= nbytes
        if self._bytes_left < 0:
            raise Malformed("arrays and byte strings copied beyond twice the file's size "
                            "(a memory bomb?)")

    def global_of(self, value) -> Optional[Global]:
        """The :class:`Global` whose value ``value`` is, if the file named it."""
        return self._by_id.get(id(value))

    def set_items(self, target, pairs) -> None:
        """SETITEMS into a dict-like the reader created."""
        if type(target) not in _DICT_TYPES:
            raise Malformed(f"items set on a {type(target).__name__}")
        self._count(2 * len(pairs))
        self._deepen(target, [v for pair in pairs for v in pair])
        take = self._take
        pairs = [(take(k), take(v)) for k, v in pairs]
        check_keys(k for k, _ in pairs)
        for key, value in pairs:       # not update(): Counter.update counts its argument
            target[key] = value

    # ------------------------------------------------------------ bookkeeping

    def _count(self, n: int) -> None:
        self._values += n
        if self._values > self.limits.max_values:
            raise Malformed(f"more than {self.limits.max_values} values (a memory bomb?)")

    def _deepen(self, container, children) -> None:
        """Record ``container``'s depth after ``children`` were put in it.

        Depths are exact for structures built bottom-up (how pickles are written). A
        container that deepens after it was itself placed somewhere (cycles, or a file
        building a chain top-down) makes :meth:`_check_height` walk the result at the end.
        """
        depth, inserted = self._depth, self._inserted
        deepest = 0
        for child in children:
            d = depth.get(id(child), 0)
            if d:
                inserted.add(id(child))
                if d > deepest:
                    deepest = d
        key = id(container)
        if deepest + 1 > depth.get(key, 0):
            if deepest + 1 > self.limits.max_depth:
                raise Malformed(f"nesting deeper than {self.limits.max_depth} levels")
            depth[key] = deepest + 1
            if key in inserted:
                self._deepened_inserted = True

    def _children(self, obj):
        if type(obj) in (list, tuple, set, frozenset):
            return obj
        if isinstance(obj, dict):
            out = list(obj.keys()) + list(obj.values())
        elif isinstance(obj, Inert):
            return (obj.args, obj.state)
        else:
            out = []
        if id(obj) in self._buildable and hasattr(obj, "__dict__"):
            out += list(vars(obj).values())
        return out

    def _check_height(self, root) -> None:
        """Walk the result without recursion; refuse it if a path from the root is longer
        than the depth limit (a reference back to an object on the path ends the path)."""
        height: Dict[int, int] = {}
        on_path = set()
        todo = [(root, None)]
        while todo:
            obj, children = todo.pop()
            key = id(obj)
            if children is None:
                if key in height or key in on_path or key not in self._depth:
                    continue
                on_path.add(key)
                children = list(self._children(obj))
                todo.append((obj, children))
                todo.extend((child, None) for child in children)
                continue
            on_path.discard(key)
            h = 1 + max((height.get(id(c), 0) for c in children), default=0)
            if h > self.limits.max_depth:
                raise Malformed(f"nesting deeper than {self.limits.max_depth} levels")
            height[key] = h

    def _new_container(self, obj, children):
        self._made.append(obj)
        self._deepen(obj, children)
        self._count(CONTAINER_WEIGHT + len(children))
        return obj

    @staticmethod
    def _take(value):
        """A value as stored into a container: pending numpy objects become real."""
        if type(value) in PENDING_TYPES:
            return value.resolve()
        return value

    # ------------------------------------------------------------ reading

    def load(self, start: int = 0, end: Optional[int] = None) -> Tuple[Any, int]:
        """Run the pickle at ``start``; returns (object, position after STOP)."""
        self.pos, self.end = start, len(self.data) if end is None else end
        self.stack, self.marks, self.memo = [], [], {}
        data, dispatch = self.data, self._dispatch
        try:
            while True:
                if self.pos >= self.end:
                    raise Malformed("truncated pickle (no STOP)")
                op = data[self.pos]
                self.pos += 1
                handler = dispatch.get(op)
                if handler is None:
                    raise Malformed(f"unknown pickle opcode {bytes([op])!r} at {self.pos - 1}")
                if handler():
                    break
            if len(self.stack) != 1 or self.marks:
                raise Malformed("pickle ends with a malformed stack")
            result = self._take(self.stack.pop())
            if self._deepened_inserted:
                self._check_height(result)
            return result, self.pos
        finally:
            self.stack = self.marks = self.memo = None

    def run(self, body: Callable[["PickleMachine"], Any]) -> Any:
        """``body(self)`` (e.g. one :meth:`load`); on failure every container made is emptied
        first (:meth:`release`), so dropping a deep structure cannot recurse."""
        try:
            return body(self)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Empty every container made here, top-down, so dropping them cannot recurse."""
        for obj in self._made:
            if isinstance(obj, (list, dict, set)):
                obj.clear()
            elif isinstance(obj, Inert):
                obj.args = obj.state = None
            if id(obj) in self._buildable and hasattr(obj, "__dict__"):
                vars(obj).clear()
        self._made.clear()

    def _read(self, n: int) -> bytes:
        end = self.pos + n
        if n < 0 or end > self.end:
            raise Malformed(f"truncated pickle: {n} bytes asked at {self.pos}, "
                            f"{self.end - self.pos} left")
        out = self.data[self.pos:end]
        self.pos = end
        return bytes(out) if type(out) is not bytes else out

    def _string(self, n: int, text: bool):
        """A string of ``n`` bytes (``str`` as latin-1 when ``text``): long ones as
        :class:`RawString`."""
        if n < _LAZY_BYTES:
            raw = self._read(n)
            return raw.decode("latin-1") if text else raw
        start = self.pos
        if start + n > self.end:
            raise Malformed(f"truncated pickle: {n} bytes asked at {start}")
        self.pos = start + n
        return self._new_container(RawString(self._view[start:start + n], text), ())

    def _uint(self, n: int) -> int:
        return int.from_bytes(self._read(n), "little")

    def _line(self) -> bytes:
        i = self.data.find(b"\n", self.pos, self.end)
        if i < 0:
            raise Malformed("truncated pickle (line without end)")
        out = bytes(self.data[self.pos:i])
        self.pos = i + 1
        return out

    def _push(self, value) -> None:
        self._values += 1
        if self._values > self.limits.max_values:
            raise Malformed(f"more than {self.limits.max_values} values (a memory bomb?)")
        self.stack.append(value)

    def _pop(self):
        if not self.stack:
            raise Malformed("pickle pops an empty stack")
        return self.stack.pop()

    def _pop_mark(self) -> list:
        if not self.marks:
            raise Malformed("pickle uses a MARK it never set")
        items, self.stack = self.stack, self.marks.pop()
        return items

    def _top(self):
        if not self.stack:
            raise Malformed("pickle uses an empty stack")
        return self.stack[-1]

    # ------------------------------------------------------------ globals and objects

    def _global(self, module: str, name: str) -> None:
        module = PY2_MODULES.get(module, module)
        full = f"{module}.{name}"
        entry = self._extra.get(full) or plain_global(full)
        if entry is None and is_foreign(full):
            entry = self._foreign.entry(full)
        if entry is None:
            raise Refused(full)
        self._by_id[id(entry.value)] = entry
        self._push(entry.value)

    def _entry(self, value, what: str) -> Global:
        entry = self._by_id.get(id(value))
        if entry is None:
            raise Refused(f"{what} on {type(value).__name__}",
                          f"refusing {what} on a {type(value).__name__} (only on globals of "
                          "the allowlist)")
        return entry

    def _call(self, func, args):
        entry = self._entry(func, "a call")
        if entry.reduce is None:
            raise Refused(entry.name, f"refusing to call {entry.name} (read as a value only)")
        if type(args) is not tuple:
            raise Malformed(f"arguments of {entry.name} are a {type(args).__name__}")
        result = entry.reduce(self, args)
        return self._result(result, args)

    def _instantiate(self, cls, args, kwargs):
        entry = self._entry(cls, "creating an instance")
        if entry.new is None:
            raise Refused(entry.name, f"refusing to create an instance of {entry.name}")
        if type(args) is not tuple or type(kwargs) is not dict:
            raise Malformed(f"arguments of {entry.name} are malformed")
        return self._result(entry.new(self, args, kwargs), (args, kwargs))

    def _result(self, result, args):
        if id(result) not in self._depth:
            self._made.append(result)
            self._count(CONTAINER_WEIGHT)
        self._deepen(result, [args] if type(args) is tuple else list(args))
        return result

    # ------------------------------------------------------------ opcodes
    # Each returns True only for STOP.

    def op_proto(self):
        version = self._read(1)[0]
        if version > _HIGHEST_PROTOCOL:
            raise Malformed(f"unsupported pickle protocol {version}")

    def op_frame(self):
        if self._uint(8) > self.end - self.pos:
            raise Malformed("pickle frame longer than the file")

    def op_stop(self):
        return True

    def op_mark(self):
        self._count(CONTAINER_WEIGHT)        # a new stack list
        self.marks.append(self.stack)
        self.stack = []

    def op_pop(self):
        if self.stack:
            self.stack.pop()
        else:
            self._pop_mark()

    def op_pop_mark(self):
        self._pop_mark()

    def op_dup(self):
        self._push(self._top())

    # scalars
    def op_none(self):
        self._push(None)

    def op_newtrue(self):
        self._push(True)

    def op_newfalse(self):
        self._push(False)

    def op_int(self):
        line = self._line()
        if line == b"00":
            self._push(False)
        elif line == b"01":
            self._push(True)
        else:
            self._push(self._text_int(line))

    def op_long(self):
        line = self._line()
        self._push(self._text_int(line[:-1] if line.endswith(b"L") else line))

    def _text_int(self, line: bytes) -> int:
        if len(line) > 3 * self.limits.max_int_bytes:
            raise Malformed("integer too long")
        return int(line)

    def op_binint(self):
        self._push(int.from_bytes(self._read(4), "little", signed=True))

    def op_binint1(self):
        self._push(self._read(1)[0])

    def op_binint2(self):
        self._push(self._uint(2))

    def op_long1(self):
        self._push(int.from_bytes(self._read(self._read(1)[0]), "little", signed=True))

    def op_long4(self):
        n = int.from_bytes(self._read(4), "little", signed=True)
        if n < 0 or n > self.limits.max_int_bytes:
            raise Malformed(f"integer of {n} bytes")
        self._push(int.from_bytes(self._read(n), "little", signed=True))

    def op_float(self):
        self._push(float(self._line()))

    def op_binfloat(self):
        self._push(struct.unpack(">d", self._read(8))[0])

    # strings
    def op_string(self):
        line = self._line().rstrip()
        if len(line) < 2 or line[:1] != line[-1:] or line[:1] not in (b"'", b'"'):
            raise Malformed("malformed STRING opcode")
        raw = codecs.escape_decode(line[1:-1])[0]
        self._push(raw.decode("latin-1") if len(raw) < _LAZY_BYTES else
                   self._new_container(RawString(memoryview(raw), True), ()))

    def op_binstring(self):
        self._push(self._string(int.from_bytes(self._read(4), "little", signed=True), True))

    def op_short_binstring(self):
        self._push(self._read(self._read(1)[0]).decode("latin-1"))

    def op_unicode(self):
        self._push(self._line().decode("raw-unicode-escape"))

    def op_binunicode(self):
        self._push(self._read(self._uint(4)).decode("utf-8", "surrogatepass"))

    def op_short_binunicode(self):
        self._push(self._read(self._read(1)[0]).decode("utf-8", "surrogatepass"))

    def op_binunicode8(self):
        self._push(self._read(self._uint(8)).decode("utf-8", "surrogatepass"))

    def op_binbytes(self):
        self._push(self._string(self._uint(4), False))

    def op_short_binbytes(self):
        self._push(self._read(self._read(1)[0]))

    def op_binbytes8(self):
        self._push(self._string(self._uint(8), False))

    def op_bytearray8(self):
        n = self._uint(8)
        self.spend(n)
        self._push(self.made(bytearray(self._read(n))))

    def op_out_of_band(self):
        raise Malformed("out-of-band pickle buffers are not read")

    # containers
    def op_empty_tuple(self):
        self._push(())

    def _tuple(self, items):
        take = self._take
        if ArrayState.matches(items):
            state = ArrayState([take(v) for v in items[:-1]] + [items[-1]])
            self._push(self._new_container(state, items))
            return
        items = [take(v) for v in items]
        self._push(self._new_container(tuple(items), items))

    def op_tuple(self):
        self._tuple(self._pop_mark())

    def op_tuple1(self):
        self._tuple([self._pop()])

    def op_tuple2(self):
        b, a = self._pop(), self._pop()
        self._tuple([a, b])

    def op_tuple3(self):
        c, b, a = self._pop(), self._pop(), self._pop()
        self._tuple([a, b, c])

    def op_empty_list(self):
        self._push(self._new_container([], ()))

    def op_list(self):
        take = self._take
        items = [take(v) for v in self._pop_mark()]
        self._push(self._new_container(items, items))

    def op_empty_dict(self):
        self._push(self._new_container({}, ()))

    def op_dict(self):
        items = self._pop_mark()
        if len(items) % 2:
            raise Malformed("DICT with an odd number of items")
        obj = self._new_container({}, ())
        self.set_items(obj, list(zip(items[::2], items[1::2])))
        self._push(obj)

    def op_empty_set(self):
        self._push(self._new_container(set(), ()))

    def op_frozenset(self):
        take = self._take
        items = [take(v) for v in self._pop_mark()]
        check_keys(items)
        self._push(self._new_container(frozenset(items), items))

    def op_append(self):
        value = self._pop()
        self._extend(self._top(), [value])

    def op_appends(self):
        items = self._pop_mark()
        self._extend(self._top(), items)

    def _extend(self, target, items):
        if type(target) is not list:
            raise Malformed(f"items appended to a {type(target).__name__}")
        self._count(len(items))
        self._deepen(target, items)
        take = self._take
        target.extend(take(v) for v in items)

    def op_additems(self):
        items = self._pop_mark()
        target = self._top()
        if type(target) is not set:
            raise Malformed(f"items added to a {type(target).__name__}")
        self._count(len(items))
        self._deepen(target, items)
        items = [self._take(v) for v in items]
        check_keys(items)
        target.update(items)

    def op_setitem(self):
        value, key = self._pop(), self._pop()
        self.set_items(self._top(), [(key, value)])

    def op_setitems(self):
        items = self._pop_mark()
        if len(items) % 2:
            raise Malformed("SETITEMS with an odd number of items")
        self.set_items(self._top(), list(zip(items[::2], items[1::2])))

    # memo
    def _put(self, index: int):
        if index < 0:
            raise Malformed("negative memo index")
        self._count(1)
        self.memo[index] = self._top()

    def _get(self, index: int):
        try:
            self._push(self.memo[index])
        except KeyError:
            raise Malformed(f"memo entry {index} is used before it is set") from None

    def op_put(self):
        self._put(int(self._line()))

    def op_binput(self):
        self._put(self._read(1)[0])

    def op_long_binput(self):
        self._put(self._uint(4))

    def op_memoize(self):
        self._put(len(self.memo))

    def op_get(self):
        self._get(int(self._line()))

    def op_binget(self):
        self._get(self._read(1)[0])

    def op_long_binget(self):
        self._get(self._uint(4))

    # globals, calls, state
    def op_global(self):
        module = self._line().decode("utf-8")
        self._global(module, self._line().decode("utf-8"))

    def op_stack_global(self):
        name, module = self._pop(), self._pop()
        if type(name) is not str or type(module) is not str:
            raise Malformed("STACK_GLOBAL with non-string names")
        self._global(module, name)

    def op_ext(self):
        raise Refused("the copyreg extension registry")

    def op_reduce(self):
        args = self._take(self._pop())
        func = self._pop()
        self._push(self._call(func, args))

    def op_newobj(self):
        args = self._pop()
        cls = self._pop()
        self._push(self._instantiate(cls, args, {}))

    def op_newobj_ex(self):
        kwargs, args = self._pop(), self._pop()
        cls = self._pop()
        self._push(self._instantiate(cls, args, kwargs))

    def op_inst(self):
        module = self._line().decode("utf-8")
        name = self._line().decode("utf-8")
        args = tuple(self._take(v) for v in self._pop_mark())
        self._global(module, name)
        self._push(self._instantiate(self._pop(), args, {}))

    def op_obj(self):
        items = self._pop_mark()
        if not items:
            raise Malformed("OBJ without a class")
        self._push(self._instantiate(items[0], tuple(self._take(v) for v in items[1:]), {}))

    def op_build(self):
        state = self._pop()
        inst = self._top()
        if type(state) is not ArrayState or type(inst) is not ArrayPending:
            state = self._take(state)
        if type(inst) in PENDING_TYPES:
            if id(inst) not in self._buildable:
                raise Malformed("state for a numpy object the reader did not create")
            inst.build(state)
            if type(inst) is ArrayPending:
                self.spend(inst.array.nbytes)
        elif id(inst) in self._buildable:
            if isinstance(inst, Inert):
                inst.state = state
            else:
                attrs, slots = check_state_keys(state, type(inst).__name__)
                if slots:
                    raise Malformed(f"slot state for a {type(inst).__name__}")
                vars(inst).update(attrs)
        else:
            raise Refused(f"state for {type(inst).__name__}",
                          f"refusing to set state on a {type(inst).__name__}: only objects "
                          "the reader created take state (never a class or function)")
        self._deepen(inst, [state])

    def op_persid(self):
        self._push(self._persistent(self._line().decode("ascii")))

    def op_binpersid(self):
        self._push(self._persistent(self._take(self._pop())))

    def _persistent(self, pid):
        if self._persistent_load is None:
            raise Malformed("plain pickle with persistent ids (a torch file? read it with "
                            "load_torch_file)")
        return self._persistent_load(pid)


_OPCODES = {
    b"\x80": "op_proto", b"\x95": "op_frame", b".": "op_stop", b"(": "op_mark",
    b"0": "op_pop", b"1": "op_pop_mark", b"2": "op_dup", b"N": "op_none",
    b"\x88": "op_newtrue", b"\x89": "op_newfalse", b"I": "op_int", b"L": "op_long",
    b"J": "op_binint", b"K": "op_binint1", b"M": "op_binint2", b"\x8a": "op_long1",
    b"\x8b": "op_long4", b"F": "op_float", b"G": "op_binfloat", b"S": "op_string",
    b"T": "op_binstring", b"U": "op_short_binstring", b"V": "op_unicode",
    b"X": "op_binunicode", b"\x8c": "op_short_binunicode", b"\x8d": "op_binunicode8",
    b"B": "op_binbytes", b"C": "op_short_binbytes", b"\x8e": "op_binbytes8",
    b"\x96": "op_bytearray8", b"\x97": "op_out_of_band", b"\x98": "op_out_of_band",
    b")": "op_empty_tuple", b"t": "op_tuple", b"\x85": "op_tuple1", b"\x86": "op_tuple2",
    b"\x87": "op_tuple3", b"]": "op_empty_list", b"l": "op_list", b"}": "op_empty_dict",
    b"d": "op_dict", b"\x8f": "op_empty_set", b"\x91": "op_frozenset", b"a": "op_append",
    b"e": "op_appends", b"\x90": "op_additems", b"s": "op_setitem", b"u": "op_setitems",
    b"p": "op_put", b"q": "op_binput", b"r": "op_long_binput", b"\x94": "op_memoize",
    b"g": "op_get", b"h": "op_binget", b"j": "op_long_binget", b"c": "op_global",
    b"\x93": "op_stack_global", b"\x82": "op_ext", b"\x83": "op_ext", b"\x84": "op_ext",
    b"R": "op_reduce", b"\x81": "op_newobj", b"\x92": "op_newobj_ex", b"i": "op_inst",
    b"o": "op_obj", b"b": "op_build", b"P": "op_persid", b"Q": "op_binpersid",
}
