-- Argo CD health of a BasicAuth (Lua 5.1). Healthy: Ready is True (Applied) for the current
-- generation. Progressing: no status yet, an older generation reported, or the ConfigMap or
-- its key does not exist yet (applied as soon as it appears). Degraded: the configuration
-- cannot be edited (InvalidConfig, ControlledByEnvironment) or two BasicAuths name one
-- ConfigMap key (TargetConflict), and any reason this check does not know yet.
local hs = {}

local ready = nil
if obj.status ~= nil and obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Ready" then
      ready = c
    end
  end
end
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to apply the Basic auth setting"
  return hs
end
local generation = obj.metadata.generation
local observed = ready.observedGeneration or obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to act on generation " .. generation
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
elseif ready.reason == "ConfigMapNotFound" or ready.reason == "KeyNotFound" then
  hs.status = "Progressing"
else
  hs.status = "Degraded"
end
hs.message = ready.reason
if ready.message ~= nil and ready.message ~= "" then
  hs.message = ready.reason .. ": " .. ready.message
end
return hs
