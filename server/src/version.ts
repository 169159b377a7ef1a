import manifest from '../../package.json' with { type: 'json' };

export const tvrVersion: string = manifest.version;
