# Kernel-side code of the sandbox. NOT imported by the grader: its text, followed by
# _forkserver_main.py's, is fed to the kernel fork server's interpreter on stdin and run as
# ``__main__`` (so no module of ours is importable or named in sys.modules); every kernel is
# forked from that server. It starts an IPython kernel whose do_execute, for requests that
# carry the check key in their metadata (test cells), first puts back every hook and helper
# that student code could have replaced (IPython's input/AST transformers, traceback display,
# custom exception handlers, display hooks, sys.stdout/stderr, builtins, tracers, methods of
# the shell/kernel/stream classes, attributes of preloaded assertion modules), runs the cell,
# then reports in the reply whether the environment was still pristine at the end and echoes
# the per-request nonce. The grader judges the cell from the reply and the outputs.
import builtins
import contextlib
import importlib
import sys
import sysconfig
import threading
import types

from ipykernel.ipkernel import IPythonKernel
from ipykernel.kernelapp import IPKernelApp
from traitlets.config import Config

_CHECK_KEY = "x-check"
_PRELOAD = ("unittest", "unittest.case", "math", "numpy", "numpy.testing", "pandas.testing")
_SHELL_ATTRS = (
    "showtraceback",
    "_showtraceback",
    "showsyntaxerror",
    "showindentationerror",
    "run_cell",
    "run_cell_async",
    "_run_cell",
    "run_ast_nodes",
    "run_code",
    "transform_cell",
    "transform_ast",
    "should_run_async",
    "excepthook",
    "custom_exceptions",
    "CustomTB",
    "InteractiveTB",
    "SyntaxTB",
    "displayhook",
    "display_pub",
    "compile",
    "input_transformer_manager",
    "ast_transformers",
    "input_transformers_post",
    "get_exception_only",
    "set_custom_exc",
    "ex",
    "ev",
    "safe_execfile",
    "run_line_magic",
)
_FUNC_TYPES = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    staticmethod,
    classmethod,
    property,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
)


def _trusted_prefixes():
    paths = sysconfig.get_paths()
    return tuple({paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths})


def _is_funcish(value):
    return callable(value) or isinstance(value, _FUNC_TYPES)


class _Snapshot:
    def __init__(self, kernel):
        shell = kernel.shell
        self.kernel = kernel
        self.trusted = _trusted_prefixes()
        for name in _PRELOAD:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: S112 - optional modules
                continue
        self.modules = {n: sys.modules[n] for n in _PRELOAD if n in sys.modules}
        self.module_dicts = {n: dict(vars(m)) for n, m in self.modules.items()}
        self.sys_hooks = {
            name: getattr(sys, name)
            for name in (
                "stdout",
                "stderr",
                "excepthook",
                "displayhook",
                "breakpointhook",
                "unraisablehook",
            )
        }
        self.builtins = dict(vars(builtins))
        self.path = list(sys.path)
        self.objects = [
            shell,
            kernel,
            sys.stdout,
            sys.stderr,
            shell.displayhook,
            shell.display_pub,
            shell.compile,
            shell.InteractiveTB,
            shell.SyntaxTB,
            shell.input_transformer_manager,
            kernel.session,
            shell.events,
        ]
        self.object_dicts = [dict(getattr(o, "__dict__", {})) for o in self.objects]
        for snap in self.object_dicts[2:4]:  # IPython re-binds stream.write on every run
            snap.pop("write", None)
        classes = []
        for obj in self.objects:
            for cls in type(obj).__mro__:
                if cls is not object and cls not in classes:
                    classes.append(cls)
        for mod in self.modules.values():
            for value in vars(mod).values():
                if isinstance(value, type) and value.__module__.startswith(mod.__name__):
                    classes.append(value)
        self.classes = {cls: dict(vars(cls)) for cls in classes}
        # data attributes only (methods are covered by the class and instance snapshots)
        self.shell_attrs = {
            a: getattr(shell, a)
            for a in _SHELL_ATTRS
            if hasattr(shell, a)
            and not isinstance(getattr(shell, a), types.MethodType)
            or a in vars(shell)
        }
        tm = shell.input_transformer_manager
        self.tm_lists = {
            a: list(getattr(tm, a))
            for a in ("cleanup_transforms", "line_transforms", "token_transformers")
        }
        self.ast_transformers = list(shell.ast_transformers)
        self.post_transformers = list(shell.input_transformers_post)
        self.shell_handlers = dict(kernel.shell_handlers)
        self.user_builtins = shell.user_ns.get("__builtins__")
        self.callbacks = {k: list(v) for k, v in shell.events.callbacks.items()}
        mon = getattr(sys, "monitoring", None)
        # the module itself is kept: student code may replace or delete ``sys.monitoring``
        self.monitoring_module = mon
        self.monitoring = {i: mon.get_tool(i) for i in range(6)} if mon else {}

    # -- restore -------------------------------------------------------------------------
    def restore(self):
        """Put everything back; return what had been changed (names, for the record)."""
        changed = []
        shell, kernel = self.kernel.shell, self.kernel
        if sys.gettrace() is not None or sys.getprofile() is not None:
            changed.append("sys.settrace/setprofile")
        sys.settrace(None)
        sys.setprofile(None)
        threading.settrace(None)
        threading.setprofile(None)
        mon = self.monitoring_module
        if mon is not None and getattr(sys, "monitoring", None) is not mon:
            changed.append("sys.monitoring")
            sys.monitoring = mon
        if mon is not None:
            for tool, owner in self.monitoring.items():
                if mon.get_tool(tool) != owner:
                    changed.append(f"sys.monitoring tool {tool}")
                    mon.set_events(tool, 0)
                    mon.free_tool_id(tool)
        for name, value in self.sys_hooks.items():
            if getattr(sys, name) is not value:
                changed.append(f"sys.{name}")
                setattr(sys, name, value)
        bd = vars(builtins)
        for name, value in self.builtins.items():
            if bd.get(name, self) is not value:
                changed.append(f"builtins.{name}")
                bd[name] = value
        for cls, snap in self.classes.items():
            changed += _restore_class(cls, snap)
        for obj, snap in zip(self.objects, self.object_dicts, strict=True):
            changed += _restore_instance(obj, snap)
        for name, value in self.shell_attrs.items():
            if name in ("ast_transformers", "input_transformers_post"):
                continue
            if getattr(shell, name) is not value:
                changed.append(f"shell.{name}")
                try:
                    setattr(shell, name, value)
                except Exception:  # noqa: BLE001
                    shell.__dict__.pop(name, None)
        tm = shell.input_transformer_manager
        for attr, items in self.tm_lists.items():
            current = getattr(tm, attr)
            if current != items:
                changed.append(f"input transformers ({attr})")
            current[:] = items
        for attr, items in (
            ("ast_transformers", self.ast_transformers),
            ("input_transformers_post", self.post_transformers),
        ):
            current = getattr(shell, attr)
            if list(current) != items:
                changed.append(f"shell.{attr}")
            setattr(shell, attr, list(items))
        if kernel.shell_handlers != self.shell_handlers:
            changed.append("kernel.shell_handlers")
            kernel.shell_handlers.clear()
            kernel.shell_handlers.update(self.shell_handlers)
        for event, funcs in self.callbacks.items():
            if shell.events.callbacks.get(event) != funcs:
                changed.append(f"shell.events[{event!r}]")
            shell.events.callbacks[event] = list(funcs)
        if shell.user_ns.get("__builtins__") is not self.user_builtins:
            changed.append("__builtins__")
            shell.user_ns["__builtins__"] = self.user_builtins
        for name, mod in self.modules.items():
            if sys.modules.get(name) is not mod:
                changed.append(f"sys.modules[{name!r}]")
                sys.modules[name] = mod
            md = vars(mod)
            for key, value in self.module_dicts[name].items():
                if _is_funcish(value) and md.get(key, self) is not value:
                    changed.append(f"{name}.{key}")
                    md[key] = value
        # The working folder goes last on sys.path so it cannot shadow library modules.
        sys.path[:] = [p for p in self.path if p not in ("", ".")] + [
            p for p in self.path if p in ("", ".")
        ]
        return changed

    def untrusted_modules(self):
        """Library modules replaced by the student's own code (cannot be undone)."""
        bad = []
        for name, mod in list(sys.modules.items()):
            if name in self.modules or mod is None:
                continue
            origin = getattr(mod, "__file__", None)
            if not isinstance(origin, str) or origin.startswith(self.trusted):
                continue
            top = name.partition(".")[0]
            spec = importlib.machinery.PathFinder.find_spec(top, list(self.trusted))
            if spec is not None:
                bad.append(f"module {name!r} shadowed by {origin}")
        return bad

    def tampered(self):
        """What differs from the snapshot now (checked after a test cell ran)."""
        diff = []
        shell = self.kernel.shell
        for name, value in self.sys_hooks.items():
            if getattr(sys, name) is not value:
                diff.append(f"sys.{name}")
        if sys.gettrace() is not None or sys.getprofile() is not None:
            diff.append("sys.settrace/setprofile")
        bd = vars(builtins)
        for name, value in self.builtins.items():
            if bd.get(name, self) is not value:
                diff.append(f"builtins.{name}")
        for name in (
            "showtraceback",
            "_showtraceback",
            "run_cell",
            "run_code",
            "CustomTB",
            "custom_exceptions",
            "displayhook",
            "compile",
        ):
            if name in self.shell_attrs and getattr(shell, name) is not self.shell_attrs[name]:
                diff.append(f"shell.{name}")
        for cls, snap in self.classes.items():
            for key, value in snap.items():
                if _is_funcish(value) and vars(cls).get(key, self) is not value:
                    diff.append(f"{cls.__qualname__}.{key}")
        for name, mod in self.modules.items():
            md = vars(mod)
            for key, value in self.module_dicts[name].items():
                if _is_funcish(value) and md.get(key, self) is not value:
                    diff.append(f"{name}.{key}")
        for stream in (sys.stdout, sys.stderr):
            value = vars(stream).get("write")
            if value is not None and not _own_method(stream, "write", value):
                diff.append("sys.stdout/stderr.write")
        tm = shell.input_transformer_manager
        for attr, items in self.tm_lists.items():
            if getattr(tm, attr) != items:
                diff.append(f"input transformers ({attr})")
        if list(shell.ast_transformers) != self.ast_transformers:
            diff.append("shell.ast_transformers")
        return diff


def _restore_class(cls, snap):
    changed = []
    current = vars(cls)
    for key, value in snap.items():
        if _is_funcish(value) and current.get(key, snap) is not value:
            changed.append(f"{cls.__qualname__}.{key}")
            with contextlib.suppress(TypeError, AttributeError):
                setattr(cls, key, value)
    for key in [k for k in current if k not in snap]:
        if _is_funcish(current[key]) and not key.startswith("__"):
            changed.append(f"{cls.__qualname__}.{key}")
            with contextlib.suppress(TypeError, AttributeError):
                delattr(cls, key)
    return changed


def _restore_instance(obj, snap):
    changed: list[str] = []
    current = getattr(obj, "__dict__", None)
    if current is None:
        return changed
    for key, value in snap.items():
        if _is_funcish(value) and current.get(key, snap) is not value:
            changed.append(f"{type(obj).__name__}.{key}")
            current[key] = value
    for key in [k for k in current if k not in snap]:
        value = current[key]
        if _is_funcish(value) and hasattr(type(obj), key):
            if not _own_method(obj, key, value):
                changed.append(f"{type(obj).__name__}.{key}")
            del current[key]
    return changed


def _own_method(obj, key, value):
    """A bound method of the object's own class stored on the instance (harmless)."""
    return (
        isinstance(value, types.MethodType)
        and value.__self__ is obj
        and value.__func__ is getattr(type(obj), key, None)
    )


class LabKernel(IPythonKernel):
    _lab_snapshot = None

    async def do_execute(
        self,
        code,
        silent,
        store_history=True,
        user_expressions=None,
        allow_stdin=False,
        *,
        cell_meta=None,
        cell_id=None,
    ):
        if self._lab_snapshot is None:
            self._lab_snapshot = _Snapshot(self)
        meta = cell_meta if isinstance(cell_meta, dict) else {}
        nonce = meta.get(_CHECK_KEY)
        if not nonce:
            return await super().do_execute(
                code,
                silent,
                store_history,
                user_expressions,
                allow_stdin,
                cell_meta=cell_meta,
                cell_id=cell_id,
            )
        snap = self._lab_snapshot
        restored = snap.restore()
        unfixable = snap.untrusted_modules()
        assert self.shell is not None
        count_before = self.shell.execution_count
        reply = await super().do_execute(
            code,
            silent,
            store_history,
            user_expressions,
            allow_stdin,
            cell_meta=cell_meta,
            cell_id=cell_id,
        )
        guard = {
            "nonce": nonce,
            "restored": sorted(set(restored))[:50],
            "tampered": (unfixable + sorted(set(snap.tampered())))[:50],
            "ran": self.shell.execution_count == count_before + 1 and reply.get("status") == "ok",
        }
        reply["x_check"] = guard
        return reply


class LabKernelApp(IPKernelApp):
    """The kernel application, configured by the grader rather than by a command line."""

    lab_config: dict | None = None

    def parse_command_line(self, argv=None):
        # Building traitlets' parser for every option of every class costs more CPU than the
        # rest of the configuration; the grader's few settings come ready-made instead.
        self.argv = list(argv or [])
        self.cli_config = Config(self.lab_config or {})
        self.update_config(self.cli_config)
        self.extra_args = []


def start_kernel(connection_file, config, ready):
    """Initialise the kernel (its sockets bound), call ``ready()``, then serve until killed.

    Called by the fork server's text, which follows this one, in a freshly forked process;
    ``config`` is traitlets configuration ({"HistoryManager": {"enabled": False}}, ...)."""
    LabKernelApp.lab_config = {"IPKernelApp": {"connection_file": connection_file}, **config}
    app = LabKernelApp.instance(kernel_class=LabKernel)
    app.initialize([])
    ready()
    app.start()
