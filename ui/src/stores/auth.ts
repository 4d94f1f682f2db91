import { defineStore } from 'pinia'
import { ref } from 'vue'

export const TOKEN_KEY = 'pystrument.token'

/** The server token (when the server has one): kept in localStorage, sent as Bearer. */
export const useAuthStore = defineStore('auth', () => {
  const token = ref<string | null>(localStorage.getItem(TOKEN_KEY))
  function setToken(value: string): void {
    token.value = value
    localStorage.setItem(TOKEN_KEY, value)
  }
  function logout(): void {
    token.value = null
    localStorage.removeItem(TOKEN_KEY)
  }
  return { token, setToken, logout }
})
