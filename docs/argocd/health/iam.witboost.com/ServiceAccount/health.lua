-- Argo CD health of a Witboost ServiceAccount (Lua 5.1). Healthy: Ready is True for the
-- current generation (enabled, with an active token). Progressing: no status yet, an older
-- generation reported, or no active token yet. Suspended: disabled on purpose.
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
  hs.message = "Waiting for the operator to report the account's status"
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
elseif ready.reason == "Disabled" then
  hs.status = "Suspended"
elseif ready.reason == "NoActiveToken" then
  hs.status = "Progressing"
else
  hs.status = "Degraded"
end
hs.message = ready.reason
if ready.message ~= nil and ready.message ~= "" then
  hs.message = ready.reason .. ": " .. ready.message
end
return hs
