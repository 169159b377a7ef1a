/** The suite's first console line: the runner echoes the extension host's console from here on (the workbench's own noise before it goes only to the log file). */
export const suiteBanner = 'tvr in-host suite: start';
