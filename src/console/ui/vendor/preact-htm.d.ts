// Types for the vendored Preact + htm module (served from htm/preact/standalone, which ships
// none that resolve without preact itself): only what the console uses.
export type VNode = object;
export declare function html(strings: TemplateStringsArray, ...values: unknown[]): VNode;
export declare function render(tree: VNode, parent: Element): void;
export declare function useState<T>(initial: T | (() => T)): [T, (next: T | ((previous: T) => T)) => void];
export declare function useEffect(effect: () => void | (() => void), deps?: readonly unknown[]): void;
export declare function useRef<T>(initial: T): { current: T };
