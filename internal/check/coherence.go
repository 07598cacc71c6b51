package check

import "sort"

// coherence warns about features that are on but would register nothing, and
// entry settings that a disabled feature would ignore (K22).
func (p *pass) coherence() {
	var crds []string
	if p.k.Spec != nil {
		for name, e := range p.k.Spec.CRDs {
			if e != nil {
				crds = append(crds, name)
			}
		}
	}
	sort.Strings(crds)

	hasRules, hasConversion := false, false
	for _, name := range crds {
		e, base := p.k.Spec.CRDs[name], "spec.crds."+name
		rulesField := ""
		if e.Mutation != nil && len(e.Mutation.Rules) > 0 {
			rulesField = base + ".mutation"
		}
		if e.Validation != nil && len(e.Validation.Rules) > 0 {
			rulesField = base + ".validation"
		}
		if rulesField != "" {
			hasRules = true
			if !p.pol.Admission.Enabled {
				p.warnf("K22", rulesField, "enable security.webhooks.admission",
					"%s has admission rules but security.webhooks.admission is not enabled; they are never evaluated", name)
			}
		}
		if e.Conversion != nil {
			hasConversion = true
			if !p.pol.Conversion.Enabled {
				p.warnf("K22", base+".conversion", "enable security.conversion",
					"%s declares conversion but security.conversion is not enabled; no conversion webhook is served", name)
			}
		}
		if e.DeletionProtection != nil && !p.pol.DeletionProtection.Enabled {
			p.warnf("K22", base+".deletionProtection", "enable security.deletionProtection",
				"%s sets deletionProtection but security.deletionProtection is not enabled; nothing is protected", name)
		}
		if (len(e.AllowedNamespaces) > 0 || len(e.RestrictedNamespaces) > 0) && !p.pol.NamespaceProtection.Enabled {
			p.warnf("K22", p.firstOf(base+".allowedNamespaces", base+".restrictedNamespaces"), "enable security.namespaceProtection",
				"%s sets namespace lists but security.namespaceProtection is not enabled; they are not enforced", name)
		}
	}

	if p.pol.Admission.Enabled && !hasRules {
		p.warnf("K22", p.firstOf("security.webhooks.admission", "security.webhooks"), "add validation or mutation rules to a CRD entry, or disable admission",
			"admission webhooks are enabled but no CRD entry has rules; nothing is registered")
	}
	if p.pol.Conversion.Enabled && !hasConversion {
		p.warnf("K22", "security.conversion", "add a conversion block to a CRD entry, or disable conversion",
			"conversion is enabled but no CRD entry declares conversion; nothing is registered")
	}
}
