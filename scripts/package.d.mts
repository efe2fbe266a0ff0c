/** Types of scripts/package.mjs (a plain ESM script azd runs as a hook), for the tests that call it. */
export declare const DEFAULT_OUT: string;
/** The .funcignore rules of a folder (gitignore semantics). */
export declare function funcignore(root?: string): { ignores(path: string): boolean };
export declare function selectFiles(root?: string, out?: string): string[];
/** Folders (absolute) of the production dependencies. */
export declare function productionPackageDirs(root?: string): string[];
export declare function buildPackage(options?: { root?: string; out?: string; deps?: 'copy' | 'install'; build?: boolean; quiet?: boolean }): unknown;
