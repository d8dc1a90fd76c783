// The part of mvdan-sh (the JavaScript build of mvdan.cc/sh/v3/syntax) that scan.ts uses.
declare module 'mvdan-sh' {
  export interface Pos {
    Line(): number;
    /** Byte offset (UTF-8) in the parsed text. */
    Offset(): number;
  }
  export interface ShellNode {
    Pos(): Pos;
    End(): Pos;
    [field: string]: unknown;
  }
  export interface Parser {
    Parse(src: string, name: string): ShellNode;
  }
  const mvdan: {
    syntax: {
      NewParser(): Parser;
      Walk(node: ShellNode, visit: (node: ShellNode | null) => boolean): void;
      NodeType(node: ShellNode): string;
    };
  };
  export default mvdan;
}
