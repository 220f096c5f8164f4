// The product's words for what the API names by key: setting and family labels from the
// active bundle's families table (GET /v1/families), never a copy of it here.

/** Labels of `families` (the table's `families` array): setting(name), family(name), path(family, path). */
export function labelsOf(families) {
  const settings = new Map(families.flatMap((f) => f.settings.map((s) => [s.name, s.label])));
  const familyLabels = new Map(families.map((f) => [f.name, f.label]));
  const setting = (name) => settings.get(name) ?? name;
  const family = (name) => familyLabels.get(name) ?? name;
  return {
    setting,
    family,
    /** A path of a settings document (`managersWriteMcpServers`, `allowWorkspaceOverrides.x`) in words. */
    path(familyName, path) {
      const [head, rest] = path.split(/\.(.*)/s);
      if (head !== 'allowWorkspaceOverrides') return setting(path);
      return `Allow workspace-level configuration (${rest ? setting(rest) : family(familyName)})`;
    },
  };
}

/** A setting in the product's words, for an outcome that names one: "Managers Write MCP Servers (org)". */
export const settingText = (labels, setting, source) => (setting ? `${labels.setting(setting)}${source ? ` (${source})` : ''}` : '');
