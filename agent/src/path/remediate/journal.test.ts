import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JournalError, newEntryId, RemediationJournal, type JournalEntry } from './journal.js';

function entry(id = newEntryId()): JournalEntry {
  const now = new Date().toISOString();
  return {
    v: 1,
    id,
    createdAt: now,
    updatedAt: now,
    state: 'applying',
    sa: { conn: 'rw', uniqueId: '4', localHost: '10.231.0.1', remoteHost: '10.231.1.2' },
    fix: { rank: 1, command: 'ip route add 10.231.1.2/32 dev rw-gw0 src 10.231.0.1' },
    change: { op: 'add', route: { family: 4, dst: '10.231.1.2/32', dev: 'rw-gw0', prefsrc: '10.231.0.1' } },
    previous: [],
    verdictBefore: 'at-risk',
    history: [],
  };
}

describe('remediation journal', () => {
  it('when entries are written, then the directory is 0750, files 0640, no temporary file is left, and state changes append history', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'rw-journal-')), 'remediation');
    const j = new RemediationJournal({ dir });
    const e = j.write(entry());
    j.write({ ...e, state: 'applied' });
    expect(lstatSync(dir).mode & 0o777).toBe(0o750);
    const files = readdirSync(dir);
    expect(files).toEqual([`${e.id}.json`]);
    expect(lstatSync(join(dir, files[0] as string)).mode & 0o777).toBe(0o640);
    const back = j.get(e.id);
    expect(back.state).toBe('applied');
    expect(back.history.map((h) => h.state)).toEqual(['applying', 'applied']);
    expect(j.active().map((x) => x.id)).toEqual([e.id]);
  });

  it('when the directory is a symlink or writable by others, then the journal refuses it', () => {
    const base = mkdtempSync(join(tmpdir(), 'rw-journal-'));
    mkdirSync(join(base, 'real'), { mode: 0o700 });
    symlinkSync(join(base, 'real'), join(base, 'link'));
    expect(() => new RemediationJournal({ dir: join(base, 'link') }).write(entry())).toThrow(/not a directory \(a symlink is refused\)/);
    mkdirSync(join(base, 'open'));
    chmodSync(join(base, 'open'), 0o777);
    expect(() => new RemediationJournal({ dir: join(base, 'open') }).write(entry())).toThrow(/writable by group or others/);
  });

  it('when an entry file is a symlink, bad JSON or a bad id, then reading it fails with a clear error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rw-journal-'));
    const j = new RemediationJournal({ dir });
    const id = newEntryId();
    writeFileSync(join(dir, 'elsewhere'), '{}');
    symlinkSync(join(dir, 'elsewhere'), join(dir, `${id}.json`));
    expect(() => j.get(id)).toThrow(JournalError);
    const id2 = newEntryId(new Date(Date.now() + 1000));
    writeFileSync(join(dir, `${id2}.json`), 'not json');
    expect(() => j.get(id2)).toThrow(/not valid JSON/);
    expect(() => j.get('../../etc/passwd')).toThrow(/not a journal id/);
    expect(new RemediationJournal({ dir: join(dir, 'missing') }).list()).toEqual([]);
  });
});
