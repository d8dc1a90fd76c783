import { describe, expect, it } from 'vitest';
import { ProgressLine, progressBar } from './progress.js';

describe('ProgressLine', () => {
  it('when a finding is printed while the bar is shown, then the finding gets its own line and the bar is redrawn below it', () => {
    const out: string[] = [];
    const tty = { write: (c: string) => (out.push(c), true) };
    const p = new ProgressLine(tty, true);
    p.update(progressBar(40, 100, 'records'));
    p.print(tty, '2026-11-27 15:50:38.123Z gw-1 site: SPURIOUS reauth 1→2\n');
    p.update(progressBar(100, 100, 'records'));
    p.done();
    // What a terminal shows: apply \r (return to column 0, overwrite) and \n.
    const rows: string[] = [];
    let row: string[] = [];
    let col = 0;
    for (const ch of out.join('')) {
      if (ch === '\n') {
        rows.push(row.join('').trimEnd());
        row = [];
        col = 0;
      } else if (ch === '\r') col = 0;
      else row[col++] = ch;
    }
    expect(rows).toEqual([
      '2026-11-27 15:50:38.123Z gw-1 site: SPURIOUS reauth 1→2',
      `[${'#'.repeat(30)}] 100% 100/100 records`,
    ]);
  });

  it('when disabled (not a terminal, --no-progress), then only the printed text is written', () => {
    const out: string[] = [];
    const s = { write: (c: string) => (out.push(c), true) };
    const p = new ProgressLine(s, false);
    p.update('[...]');
    p.print(s, 'finding\n');
    p.done();
    expect(out.join('')).toBe('finding\n');
  });

  it('when a shorter text replaces a longer one, then the rest of the old line is blanked', () => {
    const out: string[] = [];
    const p = new ProgressLine({ write: (c: string) => (out.push(c), true) }, true);
    p.update('abcdef');
    p.update('xy');
    expect(out.at(-1)).toBe('\rxy    ');
  });
});
