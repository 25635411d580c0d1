; The AT core logic from real mode: program both 8259s and the 8254 for a
; 1 kHz IRQ 0, sleep in HLT until 100 ticks have been counted, read the
; counter back with a latch command, and read the MC146818's date.
; Prints "ok NAME" / "FAIL NAME" and "PASS" / "FAILED" on port 0xE9.

cpu 386
bits 16
org 0

DEBUGCON equ 0xE9
TICKS    equ 0x500
FAILS    equ 0x502

start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7000
    mov word [TICKS], 0
    mov word [FAILS], 0
    ; IRQ 0 -> vector 8.
    mov word [8 * 4], irq0
    mov word [8 * 4 + 2], cs

    ; 8259A pair: edge triggered, cascade on IRQ 2, 8086 mode.
    mov al, 0x11
    out 0x20, al
    out 0xA0, al
    mov al, 0x08
    out 0x21, al
    mov al, 0x70
    out 0xA1, al
    mov al, 0x04
    out 0x21, al
    mov al, 0x02
    out 0xA1, al
    mov al, 0x01
    out 0x21, al
    out 0xA1, al
    mov al, 0xFE            ; only IRQ 0
    out 0x21, al
    mov al, 0xFF
    out 0xA1, al

    ; 8254 counter 0: mode 2, lobyte/hibyte, 1193 -> ~1000 Hz.
    mov al, 0x34
    out 0x43, al
    mov ax, 1193
    out 0x40, al
    mov al, ah
    out 0x40, al

    sti
.wait:
    hlt
    cmp word [TICKS], 100
    jb .wait
    cli

    mov si, s_ticks
    cmp word [TICKS], 100
    call report

    ; Latch counter 0 and read it back: it counts down from 1193.
    mov al, 0x00
    out 0x43, al
    in al, 0x40
    mov ah, al
    in al, 0x40
    xchg al, ah
    mov si, s_latch
    cmp ax, 1193
    setbe bl
    cmp bl, 1
    call report

    ; MC146818: year register (9) in BCD, and the status registers.
    mov al, 0x09
    out 0x70, al
    in al, 0x71
    mov si, s_year
    cmp al, 0x26
    call report
    mov al, 0x0B
    out 0x70, al
    in al, 0x71
    test al, 0x04           ; DM = 0: BCD
    mov si, s_bcd
    call report

    ; 8042: controller self-test answers 0x55.
    mov al, 0xAA
    out 0x64, al
    call kbc_read
    mov si, s_kbc
    cmp al, 0x55
    call report

    ; A20 through the 8042 output port: closed, FFFF:0010 aliases 0000:0000.
    mov al, 0xD1
    out 0x64, al
    call kbc_wait_write
    mov al, 0xDD                ; output port: A20 off, no reset
    out 0x60, al
    call kbc_wait_write
    mov byte [0], 0x11
    mov ax, 0xFFFF
    mov es, ax
    mov byte [es:0x10], 0x22
    mov si, s_a20_off
    cmp byte [0], 0x22
    call report
    mov al, 0xD1
    out 0x64, al
    call kbc_wait_write
    mov al, 0xDF                ; A20 on
    out 0x60, al
    call kbc_wait_write
    mov byte [0], 0x11
    mov byte [es:0x10], 0x33
    mov si, s_a20_on
    cmp byte [0], 0x11
    call report
    xor ax, ax
    mov es, ax

    ; COM1 at 115200 8N1: send "S".
    mov dx, 0x3FB
    mov al, 0x80
    out dx, al                  ; DLAB
    mov dx, 0x3F8
    mov al, 1
    out dx, al
    inc dx
    xor al, al
    out dx, al
    mov dx, 0x3FB
    mov al, 0x03
    out dx, al
    mov dx, 0x3F8
    mov al, 'S'
    out dx, al
    mov dx, 0x3FD               ; LSR: wait for the transmitter to empty
.tx:
    in al, dx
    test al, 0x40
    jz .tx
    mov si, s_uart
    cmp al, al
    call report

    mov si, s_pass
    cmp word [FAILS], 0
    je .done
    mov si, s_failed
.done:
    call print
    cli
.halt:
    hlt
    jmp .halt

irq0:
    push ax
    inc word [TICKS]
    mov al, 0x20            ; non-specific EOI
    out 0x20, al
    pop ax
    iret

; kbc_read: wait for the output buffer, read it into AL.
kbc_read:
    in al, 0x64
    test al, 1
    jz kbc_read
    in al, 0x60
    ret

; kbc_wait_write: wait until the controller's input buffer is empty.
kbc_wait_write:
    in al, 0x64
    test al, 2
    jnz kbc_wait_write
    ret

; report: ZF=1 means pass; SI names the check.
report:
    push si
    jz .ok
    inc word [FAILS]
    mov si, s_fail
    jmp .print
.ok:
    mov si, s_ok
.print:
    call print
    pop si
    call print
    mov si, s_nl
    call print
    ret

print:
    push ax
.next:
    cs lodsb
    test al, al
    jz .done
    out DEBUGCON, al
    jmp .next
.done:
    pop ax
    ret

s_ticks:  db "100 IRQ 0 ticks counted while halted", 0
s_latch:  db "counter latch reads back a count below the reload", 0
s_year:   db "RTC year register reads 0x26 (BCD)", 0
s_bcd:    db "RTC register B selects BCD", 0
s_kbc:    db "8042 self-test answers 0x55", 0
s_a20_off: db "A20 closed by the 8042: FFFF:0010 wraps to 0", 0
s_a20_on: db "A20 open again: FFFF:0010 is 0x100000", 0
s_uart:   db "COM1 transmitter empties after a byte", 0
s_ok:     db "ok ", 0
s_fail:   db "FAIL ", 0
s_nl:     db 10, 0
s_pass:   db "PASS", 10, 0
s_failed: db "FAILED", 10, 0

    times 0xFFF0 - ($ - $$) db 0xFF
    jmp 0xF000:start
    times 0x10000 - ($ - $$) db 0xFF
