"""The ``make bench`` harness without a router: rows, verdicts, the table, JSON and docs page.

Benchmarks are judged by this code, so a wrong ratio or verdict here would
print "met" for a target that was missed.  Everything below is pure logic;
the one runner test uses a fake benchmark module and fake machine facts.
"""
import json
import os
import subprocess
import sys
import types

import pytest

from benchmarks import history_acks, machine, procs, report, rows, run


def row_with(**changes):
    """A met peer row (the shape vs_reference makes), with ``changes`` applied."""
    row = rows.vs_reference('throughput', 120.0, 100.0, 'ev/s', 1.2, '>=', '>= 1.2 x Socket.IO')
    row.update(changes)
    return row


# -- rows: ratios and verdicts --------------------------------------------------

@pytest.mark.parametrize('direction, value, target, expected', [
    ('>=', 1.2, 1.2, True), ('>=', 1.19, 1.2, False), ('>=', 5, 1.2, True),
    ('<=', 0.8, 0.8, True), ('<=', 0.81, 0.8, False), ('<=', 0.1, 0.8, True),
    ('>=', None, 1.2, False), ('<=', None, 0.8, False),
])
def test_compare_higher_and_lower_is_better(direction, value, target, expected):
    assert rows.compare(direction, value, target) is expected


def test_vs_reference_higher_is_better_met_and_not_met():
    met = rows.vs_reference('tp', 1300.0, 1000.0, 'ev/s', 1.2, '>=', '>= 1.2 x Socket.IO')
    assert met['ratio'] == pytest.approx(1.3) and met['met'] is True
    assert met['reference'] == 1000.0 and met['goal'] == {
        'text': '>= 1.2 x Socket.IO', 'target': 1.2, 'direction': '>=', 'against': 'peer'}
    missed = rows.vs_reference('tp', 1100.0, 1000.0, 'ev/s', 1.2, '>=', '>= 1.2 x Socket.IO')
    assert missed['ratio'] == pytest.approx(1.1) and missed['met'] is False


def test_vs_reference_lower_is_better_met_and_not_met():
    met = rows.vs_reference('cpu', 70.0, 100.0, 'us', 0.8, '<=', '<= 0.8 x Socket.IO')
    assert met['ratio'] == pytest.approx(0.7) and met['met'] is True
    missed = rows.vs_reference('cpu', 90.0, 100.0, 'us', 0.8, '<=', '<= 0.8 x Socket.IO')
    assert missed['ratio'] == pytest.approx(0.9) and missed['met'] is False


def test_vs_reference_extra_condition_vetoes_a_good_ratio():
    row = rows.vs_reference('tp', 5000.0, 1000.0, 'ev/s', 1.2, '>=', 'x', ok=False)
    assert row['ratio'] == 5.0 and row['met'] is False


@pytest.mark.parametrize('reference', [0, 0.0, None])
def test_vs_reference_without_a_usable_reference_is_not_met(reference):
    row = rows.vs_reference('tp', 5000.0, reference, 'ev/s', 1.2, '>=', 'x')
    assert row['ratio'] is None and row['met'] is False


def test_vs_reference_keeps_label_details_and_against():
    row = rows.vs_reference('view', 90.0, 100.0, 'req/s', 0.9, '>=', 'x', against='baseline',
                            label='without publish', details={'note': 'n'})
    assert row['goal']['against'] == 'baseline' and row['reference_label'] == 'without publish'
    assert row['details'] == {'note': 'n'} and row['met'] is True


def test_absolute_ratio_is_value_over_target():
    met = rows.absolute('cost', 10.0, 'us', 20, '<=', '<= 20 us')
    assert met['ratio'] == 0.5 and met['met'] is True and met['reference'] is None
    missed = rows.absolute('cost', 30.0, 'us', 20, '<=', '<= 20 us')
    assert missed['ratio'] == 1.5 and missed['met'] is False
    assert rows.absolute('rate', 900.0, 'ev/s', 1000, '>=', '>= 1000')['met'] is False
    assert rows.absolute('cost', 10.0, 'us', 20, '<=', 'x', ok=False)['met'] is False


def test_absolute_with_target_zero_has_no_ratio_but_a_verdict():
    assert rows.absolute('lost', 0, 'events', 0, '<=', '0')['met'] is True
    lost = rows.absolute('lost', 3, 'events', 0, '<=', '0')
    assert lost['met'] is False and lost['ratio'] is None


def test_info_row_has_no_verdict_but_a_ratio_to_its_reference():
    row = rows.info('memory', 300.0, 'MB', reference=100.0, label='Socket.IO')
    assert row['met'] is None and row['ratio'] == 3.0
    assert row['goal']['target'] is None and row['goal']['text'] == 'no target (reported)'
    assert rows.info('memory', 300.0, 'MB')['ratio'] is None


def test_failed_row_counts_as_not_met():
    row = rows.failed('peers (whole module)', 'RuntimeError: boom')
    assert row['met'] is False and row['value'] is None
    assert row['goal']['text'] == 'measurement failed'
    assert row['details']['error'] == 'RuntimeError: boom'


def test_percentile_by_nearest_rank():
    values = list(range(1, 101))  # 1..100, shuffled order must not matter
    values.reverse()
    assert rows.percentile(values, 0) == 1
    assert rows.percentile(values, 1) == 100
    assert rows.percentile(values, 0.5) in (50, 51)
    assert rows.percentile(values, 0.99) == 99
    assert rows.percentile([7.5], 0.99) == 7.5
    assert rows.percentile([], 0.5) is None


def test_median():
    assert rows.median([3, 1, 2]) == 2
    assert rows.median([4, 1, 2, 3]) == 2.5
    assert rows.median([]) is None


# -- report: cells, table, summary ---------------------------------------------

@pytest.mark.parametrize('value, text', [
    (None, '-'), (0, '0'), (20000, '20,000'), (True, 'True'), (12345.6, '12,346'),
    (100.0, '100'), (12.345, '12.3'), (1.234, '1.23'), (0.0049, '0.00'), (-250.0, '-250'),
])
def test_number_formatting(value, text):
    assert report.number(value) == text


def test_measured_names_the_reference():
    assert report.measured(row_with()) == '120 ev/s (Socket.IO 100)'
    baseline = rows.vs_reference('v', 95.0, 100.0, 'req/s', 0.9, '>=', 'x', against='baseline')
    assert report.measured(baseline) == '95.0 req/s (baseline 100)'
    labelled = row_with(reference_label='history off')
    assert report.measured(labelled) == '120 ev/s (history off 100)'
    assert report.measured(rows.absolute('c', 6.6, 'us', 20, '<=', 'x')) == '6.60 us'
    assert report.measured(rows.failed('x', 'ValueError: ' + 'y' * 100)) == \
        'failed: ' + ('ValueError: ' + 'y' * 100)[:60]


def test_verdict_and_cells():
    assert [report.verdict(r) for r in (row_with(), row_with(met=False), rows.info('i', 1, ''))] \
        == ['met', 'NOT met', '-']
    assert report.cells(dict(row_with(), module='peers')) == (
        'peers: throughput', '>= 1.2 x Socket.IO', '120 ev/s (Socket.IO 100)', '1.20', 'met')
    assert report.cells(rows.info('i', 1.0, 'x'))[0] == '?: i'
    assert report.cells(rows.info('i', 1.0, 'x'))[3] == '-'


def test_table_has_a_header_a_rule_and_aligned_columns():
    long_name = 'n' * 100
    text = report.table([dict(row_with(), module='peers'),
                         dict(rows.absolute(long_name, 30.0, 'us', 20, '<=', '<= 20 us'),
                              module='publisher')])
    lines = text.splitlines()
    assert len(lines) == 4
    assert lines[0].split() == ['row', 'goal', 'measured', 'ratio', 'met']
    assert set(lines[1].replace(' ', '')) == {'-'}
    assert lines[2].startswith('peers: throughput') and lines[2].endswith('met')
    assert lines[3].endswith('NOT met')
    assert ('publisher: ' + long_name)[:70] in lines[3]
    assert ('publisher: ' + long_name)[:71] not in lines[3]  # cells are cut at 70
    # the columns line up: every row's goal starts where the header's does
    goal_at = lines[0].index('goal')
    assert lines[2][goal_at:].startswith('>= 1.2') and lines[3][goal_at:].startswith('<= 20')


def test_summary_counts_only_rows_with_a_target():
    all_rows = [row_with(), row_with(met=False), rows.failed('x', 'e'), rows.info('i', 1, '')]
    assert report.summary(all_rows) == '1 of 3 targets met (1 rows without a target)'
    assert report.summary([]) == '0 of 0 targets met (0 rows without a target)'


# -- the docs page and the runner's JSON ------------------------------------------

def fake_machine(load=(0.5, 0.4, 0.3), cores=2):
    return {'date': '2026-01-01 00:00 UTC', 'cpu': 'Test CPU', 'cores': cores,
            'memory_gb': 8.0, 'load_start': list(load), 'load_end': list(load),
            'kernel': '6.0', 'python': '3.11.0', 'quick': True, 'pin_router': False,
            'minutes': 1.5, 'versions': {'crossbar': '1.0', 'missing': None}}


def test_docs_page_lists_machine_rows_notes_and_plots():
    special = rows.absolute('cost *with* | pipes', 6.6, 'us', 20, '<=', '<= 20 us',
                            details={'note': 'flat out, `one` thread'})
    results = {'machine': fake_machine(), 'rows': [dict(row_with(), module='peers'),
                                                    dict(special, module='publisher')],
               'plots': [{'module': 'peers', 'name': 'p', 'title': 'Latency',
                          'path': 'docs/_static/bench/p.png'}]}
    page = report.docs_page(results)
    assert page.startswith('.. This page is generated by ``make bench``')
    assert '1 of 1 targets met' not in page and '2 of 2 targets met' in page
    assert '   * - peers: throughput\n     - >= 1.2 x Socket.IO\n' in page
    assert r'cost \*with\* \| pipes' in page  # reST markup in names is escaped
    assert r'flat out, \`one\` thread' in page
    assert 'How each row is measured' in page
    assert '.. figure:: _static/bench/p.png' in page
    assert 'Test CPU' in page and 'crossbar' in page and 'missing' not in page
    assert 'quick, 1.5 min, router pinned: no' in page
    assert '.. warning::' not in page


def test_docs_page_warns_when_the_machine_was_busy():
    results = {'machine': fake_machine(load=(1.5, 1, 1)), 'rows': [], 'plots': []}
    assert '.. warning::' in report.docs_page(results)
    idle = {'machine': fake_machine(load=(0.9, 1, 1)), 'rows': [], 'plots': []}
    assert '.. warning::' not in report.docs_page(idle)


@pytest.fixture
def bench_dirs(tmp_path, monkeypatch):
    """The runner writing into ``tmp_path``, with fake machine facts and two fake modules."""
    monkeypatch.setattr(run, 'RESULTS', str(tmp_path / 'results'))
    monkeypatch.setattr(run, 'PLOTS', str(tmp_path / 'plots'))
    monkeypatch.setattr(run, 'DOCS_PAGE', str(tmp_path / 'benchmarks.rst'))
    monkeypatch.setattr(machine, 'describe', lambda quick: dict(fake_machine(), quick=quick,
                                                                started=0))
    monkeypatch.setattr(machine, 'finish', lambda started: {
        k: v for k, v in started.items() if k != 'started'})
    seen = {}

    def good_run(ctx):
        seen['quick'] = ctx.quick
        seen['scaled'] = ctx.scale(100, 10)
        print('progress goes to the log, not the table')
        return [rows.vs_reference('tp', 130.0, 100.0, 'ev/s', 1.2, '>=', 'x'),
                rows.info('cpu', 5.0, 'us')]

    def bad_run(ctx):
        raise RuntimeError('router did not start')

    for name, function in (('fake_good', good_run), ('fake_bad', bad_run)):
        module = types.ModuleType('benchmarks.' + name)
        module.run = function
        monkeypatch.setitem(sys.modules, 'benchmarks.' + name, module)
    monkeypatch.setattr(run, 'MODULES', ['benchmarks.fake_good', 'benchmarks.fake_bad'])
    return tmp_path, seen


def test_runner_writes_json_results_and_the_docs_page(bench_dirs, capsys):
    tmp_path, seen = bench_dirs
    assert run.main(['--quick', '--only', 'fake_good']) == 0
    assert seen == {'quick': True, 'scaled': 10}
    results = json.loads((tmp_path / 'results' / 'latest.json').read_text())
    assert set(results) == {'machine', 'modules', 'rows', 'plots'}
    assert results['modules'] == ['benchmarks.fake_good'] and results['plots'] == []
    assert results['machine']['quick'] is True and 'started' not in results['machine']
    first, second = results['rows']
    assert first['module'] == second['module'] == 'fake_good'
    assert set(first) >= {'name', 'value', 'unit', 'reference', 'goal', 'ratio', 'met',
                          'details'}
    assert first['ratio'] == pytest.approx(1.3) and first['met'] is True
    assert second['met'] is None
    out = capsys.readouterr().out
    assert 'fake_good: tp' in out and '1 of 1 targets met (1 rows without a target)' in out
    assert 'progress goes to the log' not in out
    assert 'progress goes to the log' in (tmp_path / 'results' / 'latest.log').read_text()
    page = (tmp_path / 'benchmarks.rst').read_text()
    assert '   * - fake_good: tp' in page


def test_runner_turns_a_failing_module_into_a_failed_row(bench_dirs, capsys):
    tmp_path, _ = bench_dirs
    assert run.main(['--no-docs']) == 1  # a failed measurement fails the run
    results = json.loads((tmp_path / 'results' / 'latest.json').read_text())
    failed = results['rows'][-1]
    assert failed['module'] == 'fake_bad' and failed['met'] is False
    assert failed['name'] == 'fake_bad (whole module)'
    assert failed['details']['error'] == 'RuntimeError: router did not start'
    assert len(results['rows']) == 3  # the good module's rows are kept
    assert not (tmp_path / 'benchmarks.rst').exists()  # --no-docs


def test_every_listed_module_has_a_run_function():
    import importlib.util
    for name in run.MODULES:
        assert importlib.util.find_spec(name) is not None, name
    assert 'benchmarks.history_acks' in run.MODULES
    assert callable(history_acks.run)


# -- benchmarks.history_acks: the pure parts ---------------------------------------

def test_rounds_alternate_their_order():
    first, second, third = (history_acks.round_order(n) for n in range(3))
    assert first == list(history_acks.MEASUREMENTS) == third
    assert second == first[::-1]
    # every ratio's two sides are measured in each round
    keys = {key for key, _, _, _ in first}
    for _, value_key, reference_key, _, _, _ in history_acks.RATIO_ROWS:
        assert {value_key, reference_key} <= keys


def test_payload_is_100_bytes_of_json_carrying_its_index():
    for i in (0, 7, 19999, 123456):
        body = history_acks.payload(i)
        assert body['i'] == i and len(json.dumps(body)) == 100


def test_loss_tells_lost_from_duplicated():
    assert history_acks.loss(10, {'n': 10, 'distinct': 10, 'out_of_order': 0}) == {
        'lost': 0, 'duplicates': 0, 'out_of_order': 0}
    # 10 received but two were copies: two events never arrived
    assert history_acks.loss(10, {'n': 10, 'distinct': 8, 'out_of_order': 2}) == {
        'lost': 2, 'duplicates': 2, 'out_of_order': 2}
    assert history_acks.loss(10, {'n': 7, 'distinct': 7})['lost'] == 3


def result(rate, cpu_us=20.0, lost=0, duplicates=0, out_of_order=0, flushed=True):
    return {'rate': rate, 'cpu_us': cpu_us, 'lost': lost, 'duplicates': duplicates,
            'out_of_order': out_of_order, 'flushed': flushed, 'publisher': {'acked': 1}}


def all_clean(rate=1000.0):
    return {key: [result(rate), result(rate)] for key, _, _, _ in history_acks.MEASUREMENTS}


def by_name(summary, start):
    [row] = [r for r in summary if r['name'].startswith(start)]
    return row


def test_summarize_takes_medians_and_judges_each_target():
    results = all_clean()
    results['memory history acked'] = [result(700.0), result(900.0)]   # median 800: 0.8
    results['redis history acked'] = [result(700.0), result(780.0)]    # median 740: 0.74
    results['memory plain fire-and-forget'] = [result(1100.0), result(1100.0)]  # 0.91
    summary = history_acks.summarize(results, 10000, 2)
    memory = by_name(summary, 'throughput, history on vs off, memory')
    assert memory['value'] == 800.0 and memory['reference'] == 1000.0
    assert memory['ratio'] == pytest.approx(0.8) and memory['met'] is True
    assert memory['details']['per-round ratios'] == [0.7, 0.9]
    assert memory['reference_label'] == 'history off'
    assert memory['details']['events per run'] == 10000
    redis = by_name(summary, 'throughput, history on vs off, Redis')
    assert redis['ratio'] == pytest.approx(0.74) and redis['met'] is False
    plain = by_name(summary, 'throughput, acked vs fire-and-forget, plain')
    assert plain['ratio'] == pytest.approx(1000 / 1100) and plain['met'] is True
    assert by_name(summary, 'events lost')['value'] == 0
    assert by_name(summary, 'events lost')['met'] is True


@pytest.mark.parametrize('problem', [{'lost': 1}, {'duplicates': 2}, {'out_of_order': 1},
                                     {'flushed': False}])
def test_summarize_fails_a_fast_but_lossy_side(problem):
    results = all_clean()
    results['memory history fire-and-forget'][1] = result(500.0, **problem)
    summary = history_acks.summarize(results, 10000, 2)
    row = by_name(summary, 'throughput, acked vs fire-and-forget, history')
    assert row['ratio'] >= 0.9 and row['met'] is False  # the ratio alone would pass
    assert by_name(summary, 'throughput, acked vs fire-and-forget, plain')['met'] is True
    lost = by_name(summary, 'events lost')
    assert lost['value'] == sum(v for v in problem.values() if v is not False)
    assert lost['met'] is (lost['value'] == 0)


def test_summarize_reports_publisher_cpu_against_fire_and_forget():
    results = all_clean()
    results['memory plain acked'] = [result(1000.0, cpu_us=30.0), result(1000.0, cpu_us=26.0)]
    results['memory plain fire-and-forget'] = [result(1000.0, cpu_us=14.0)] * 2
    row = by_name(history_acks.summarize(results, 10000, 2), 'publisher CPU per event, acked, '
                  'plain')
    assert row['value'] == 28.0 and row['reference'] == 14.0 and row['ratio'] == 2.0
    assert row['met'] is None and row['reference_label'] == 'fire-and-forget'


def test_memory_counts_a_page_two_processes_share_once():
    # A process touches 64 MB, then forks: parent and child share those pages
    # (copy-on-write) until one writes, so they use the RAM once.
    script = ('import os, signal, sys\n'
              'block = bytearray(64 * 1024 * 1024)\n'
              'for i in range(0, len(block), 4096): block[i] = 1\n'
              'child = os.fork()\n'
              'if child == 0: signal.pause(); os._exit(0)\n'
              'print(os.getpid(), child, flush=True)\n'
              'sys.stdin.read()\n'
              'os.kill(child, 9)\n')
    process = subprocess.Popen([sys.executable, '-c', script], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in process.stdout.readline().split()]
        memory = procs.memory_mb(pids)
        alone = procs.memory_mb(pids[:1])
    finally:
        process.communicate('', timeout=30)
    assert memory['rss_sum'] > 2 * 64  # each process shows the block
    if procs.distinct_resident_mb([os.getpid()]) is None:
        # page frames hidden (no CAP_SYS_ADMIN): the RSS sum, and the report says so
        assert memory['distinct'] == memory['rss_sum']
        assert memory['method'] == procs.METHOD_RSS
        return
    assert memory['method'] == procs.METHOD_PAGES
    assert memory['distinct'] < memory['rss_sum'] - 60  # the block counts once
    assert memory['distinct'] > 64
    assert alone['distinct'] == pytest.approx(alone['rss_sum'], rel=0.05)  # one process: its RSS
