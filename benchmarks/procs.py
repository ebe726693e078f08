"""Server processes seen from outside (Linux /proc): CPU, memory, core pinning.

A server is a process tree (a crossbar node is a controller plus its router
and container workers; ``livehub router`` adds its own parent), so every
figure is summed over the tree, read at the moment it is asked for.
"""
import array
import os

_TICK = os.sysconf('SC_CLK_TCK')


def _stat_fields(pid):
    with open('/proc/%d/stat' % pid) as fh:
        return fh.read().rsplit(')', 1)[1].split()


def tree(pid):
    """``pid`` and all its descendants alive now."""
    children = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                parent = int(_stat_fields(int(entry))[1])
            except (OSError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


def cpu_seconds(pids):
    """User + system CPU seconds used so far by ``pids`` (gone processes count 0)."""
    total = 0.0
    for pid in pids:
        try:
            fields = _stat_fields(pid)
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


def rss_mb(pids):
    """Resident memory of ``pids`` in MB (shared pages count once per process, like ps)."""
    total = 0
    for pid in pids:
        try:
            with open('/proc/%d/status' % pid) as fh:
                for line in fh:
                    if line.startswith('VmRSS:'):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def distinct_resident_mb(pids):
    """Resident memory of ``pids`` together, each physical page counted once, in MB.

    Summing RSS counts a page that several of the processes map (the shared
    libraries and Python extension modules a crossbar controller and its
    workers all load) once per process; this is the tree's own RSS: the
    page frames of every resident page (``/proc/PID/pagemap``), as a set.
    None when the frame numbers are hidden: Linux shows them only to a reader
    with ``CAP_SYS_ADMIN`` (root outside a container), and zeros to others.
    """
    frames = set()
    for pid in pids:
        try:
            with open('/proc/%d/maps' % pid) as fh:
                regions = fh.read().splitlines()
            pagemap = open('/proc/%d/pagemap' % pid, 'rb')
        except OSError:
            continue  # gone meanwhile
        with pagemap:
            for line in regions:
                fields = line.split()
                if fields[1].startswith('---') or fields[-1] == '[vsyscall]':
                    continue  # reserved, never resident / outside the page table
                start, end = (int(x, 16) for x in fields[0].split('-'))
                for offset in range(start // _PAGE, end // _PAGE, _CHUNK):
                    pagemap.seek(offset * 8)
                    entries = array.array('Q')
                    try:
                        entries.frombytes(pagemap.read(min(_CHUNK, end // _PAGE - offset) * 8))
                    except OSError:
                        break
                    for entry in entries:
                        if entry >> 63:  # present in RAM
                            frame = entry & _FRAME_MASK
                            if not frame:
                                return None  # frame numbers hidden
                            frames.add(frame)
    return len(frames) * _PAGE / (1024 * 1024)


_PAGE = os.sysconf('SC_PAGE_SIZE')
_FRAME_MASK = (1 << 55) - 1
_CHUNK = 65536  # pagemap entries read at a time (512 KB)


def memory_mb(pids):
    """``{'distinct': MB, 'rss_sum': MB, 'method': ...}`` of ``pids``.

    ``distinct`` is :func:`distinct_resident_mb` (``method`` ``'each page
    once'``), or the RSS sum where the frame numbers are hidden (``method``
    ``'RSS summed (page frames hidden)'``), so a report can say which it shows.
    """
    rss_sum = rss_mb(pids)
    distinct = distinct_resident_mb(pids)
    if distinct is None:
        return {'distinct': rss_sum, 'rss_sum': rss_sum, 'method': METHOD_RSS}
    return {'distinct': distinct, 'rss_sum': rss_sum, 'method': METHOD_PAGES}


#: ``memory_mb()['method']`` values.
METHOD_PAGES = 'each page once'
METHOD_RSS = 'RSS summed (page frames hidden)'


def describe(pids):
    """``[(pid, short command line, rss MB)]`` for the details of a memory row."""
    out = []
    for pid in pids:
        try:
            with open('/proc/%d/cmdline' % pid, 'rb') as fh:
                args = fh.read().replace(b'\0', b' ').decode(errors='replace').strip()
        except OSError:
            continue
        out.append((pid, args[:120], round(rss_mb([pid]), 1)))
    return out


class CpuMeter:
    """CPU seconds a process tree spends between ``start()`` and ``stop()``.

    The tree is read again at ``stop()`` so that workers started meanwhile count.
    """

    def __init__(self, root_pid):
        self.root_pid = root_pid
        self.used = 0.0

    def start(self):
        self.pids = tree(self.root_pid)
        self.before = {pid: cpu_seconds([pid]) for pid in self.pids}
        return self

    def stop(self):
        pids = tree(self.root_pid)
        self.used = sum(cpu_seconds([pid]) - self.before.get(pid, 0.0) for pid in pids)
        return self.used


def pin(root_pid, cpus):
    """Set the CPU affinity of every thread of every process in the tree (like ``taskset -a``).

    Returns False when the machine has fewer cores than asked for.
    """
    cpus = {c for c in cpus if c < os.cpu_count()}
    if not cpus:
        return False
    for pid in tree(root_pid):
        try:
            for tid in os.listdir('/proc/%d/task' % pid):
                os.sched_setaffinity(int(tid), cpus)
        except OSError:
            continue
    return True


def pin_settings():
    """(router cores, app cores) from ``BENCH_PIN_ROUTER``: None when pinning is off.

    ``BENCH_PIN_ROUTER=1`` puts the router (or the peer's server) on core 1 and
    everything else (app, publisher, clients) on core 0, as in production where
    the router has its own core.
    """
    if os.environ.get('BENCH_PIN_ROUTER', '') not in ('1', 'true', 'yes'):
        return None
    if os.cpu_count() < 2:
        return None
    return {1}, {0}
