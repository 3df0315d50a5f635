// Types for the two jsroot modules ESS uses (jsroot ships none for its subpaths): reading only.
declare module 'jsroot/io' {
  /** jsroot's hook for reading a file through someone else's bytes. */
  export class FileProxy {
    openFile(): Promise<boolean>;
    getFileName(): string;
    getFileSize(): number;
    readBuffer(pos: number, size: number): Promise<DataView | null>;
    closeFile(): void;
  }
  export function openFile(arg: FileProxy | string, opts?: { timeout?: number }): Promise<unknown>;
}

declare module 'jsroot/tree' {
  export class TSelector {
    tgtobj: Record<string, unknown>;
    addBranch(branch: unknown, name?: string, direct?: boolean): number;
    Abort(): void;
    Process(entry: number): void;
    Terminate(ok: boolean): void;
  }
  export function treeProcess(tree: unknown, selector: TSelector, args?: { firstentry?: number; numentries?: number }): Promise<TSelector>;
}
