/**
 * A one-line progress indicator on a terminal (stderr) that other output can share the screen
 * with: `print` wipes the progress line, writes the text (to stdout or stderr) on its own
 * lines, and redraws the progress below it. Without this, the first finding printed on stdout
 * would continue the progress line (`[####....]  40% …2026-11-27 …`). The line is wiped with
 * `\r`, spaces and `\r` rather than an ANSI erase sequence, so it works on any terminal.
 */
export interface TextStream {
  write(chunk: string): unknown;
}

export class ProgressLine {
  private shown = '';

  constructor(private readonly stream: TextStream, private readonly enabled: boolean) {}

  /** Replaces the progress line with `text`. */
  update(text: string): void {
    if (!this.enabled) return;
    const pad = this.shown.length > text.length ? ' '.repeat(this.shown.length - text.length) : '';
    this.stream.write(`\r${text}${pad}`);
    this.shown = text;
  }

  /** Writes `text` (whole lines, ending in a newline) to `out` above the progress line. */
  print(out: TextStream, text: string): void {
    if (!this.enabled || this.shown === '') {
      out.write(text);
      return;
    }
    this.stream.write(`\r${' '.repeat(this.shown.length)}\r`);
    out.write(text);
    this.stream.write(this.shown);
  }

  /** Ends the progress line (leaves it on screen and moves to the next line). */
  done(): void {
    if (this.enabled && this.shown !== '') this.stream.write('\n');
    this.shown = '';
  }
}

/** `[###########...................]  37% 370/1000 records` */
export function progressBar(done: number, total: number, unit: string, width = 30): string {
  const frac = total > 0 ? Math.min(1, done / total) : 0;
  const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
  return `[${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${done}/${total} ${unit}`;
}
